"""The directory: listing, search, autocomplete, profiles, photos and departments."""
