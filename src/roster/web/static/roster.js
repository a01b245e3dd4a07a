/* Roster's small enhancements. Every page works without this file; it adds mention and
   people-picker autocomplete, live previews, confirmations and photo previews. */
(function () {
  "use strict";

  var AUTOCOMPLETE_URL = "/api/v1/users/autocomplete";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function initials(name) {
    return (name || "?").split(/\s+/).filter(Boolean).slice(0, 2).map(function (p) { return p[0]; }).join("").toUpperCase();
  }

  var seq = 0;
  /* source: a directory URL (admin pages name people with their address) instead of autocomplete. */
  function search(q, callback, source) {
    var mine = ++seq;
    var url = source ? source + (source.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(q)
                     : AUTOCOMPLETE_URL + "?limit=8&q=" + encodeURIComponent(q);
    fetch(url, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) { if (mine === seq) callback(Array.isArray(items) ? items : (items.items || [])); })
      .catch(function () { callback([]); });
  }

  /* A listbox under an input: arrow keys move, Enter or Tab picks, Escape closes. An <input>
     becomes an ARIA 1.2 combobox; a <textarea> cannot be one, so it stays a text box that points
     at the list. A polite live region says how many people were found, or that nobody was. */
  function Listbox(anchor, input, onPick, name) {
    this.list = el("ul", { "class": "ac-list", role: "listbox", id: "ac-" + Math.random().toString(36).slice(2) });
    this.list.hidden = true;
    var label = input.labels && input.labels[0];
    if (label && !name) {
      if (!label.id) label.id = input.id + "-label";
      this.list.setAttribute("aria-labelledby", label.id);
    } else {
      this.list.setAttribute("aria-label", name || "Suggestions");
    }
    /* Shown instead of the list when nobody matches: not an option, and read out by the status. */
    this.none = el("div", { "class": "ac-list ac-none", "aria-hidden": "true" }, "No active colleague matches");
    this.none.hidden = true;
    this.status = el("div", { "class": "visually-hidden", role: "status", "aria-live": "polite" });
    anchor.appendChild(this.list);
    anchor.appendChild(this.none);
    anchor.appendChild(this.status);
    this.input = input;
    this.combobox = input.tagName !== "TEXTAREA";
    this.items = [];
    this.active = -1;
    this.onPick = onPick;
    if (this.combobox) {
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-expanded", "false");
    }
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    var self = this;
    this.list.addEventListener("mousedown", function (e) {
      var li = e.target.closest("li[data-index]");
      if (li) { e.preventDefault(); self.pick(+li.getAttribute("data-index")); }
    });
  }
  /* An item with a "disabled" reason is shown greyed out with it, and cannot be picked. */
  Listbox.prototype.next = function (from, step) {
    for (var i = from + step; i >= 0 && i < this.items.length; i += step) {
      if (!this.items[i].disabled) return i;
    }
    return -1;
  };
  Listbox.prototype.expanded = function (open) {
    if (this.combobox) this.input.setAttribute("aria-expanded", open ? "true" : "false");
  };
  Listbox.prototype.show = function (items) {
    this.items = items;
    this.active = this.next(-1, 1);
    this.list.textContent = "";
    var self = this;
    items.forEach(function (item, i) {
      var li = el("li", { "class": "ac-option", role: "option", id: self.list.id + "-" + i, "data-index": String(i) });
      if (item.disabled) li.setAttribute("aria-disabled", "true");
      var av = el("span", { "class": "avatar avatar-xs hue-" + (i % 8), "aria-hidden": "true" }, initials(item.display_name));
      if (item.photo_url) { var img = el("img", { src: item.photo_url.replace("size=256", "size=64"), alt: "" }); av.appendChild(img); }
      li.appendChild(av);
      var text = el("span", {}, item.display_name);
      if (item.email) { text.appendChild(document.createTextNode(" ")); text.appendChild(el("small", { "class": "ac-email" }, item.email)); }
      if (item.position) { text.appendChild(document.createTextNode(" ")); text.appendChild(el("small", {}, item.position)); }
      if (item.disabled) { text.appendChild(document.createTextNode(" ")); text.appendChild(el("small", { "class": "ac-disabled" }, "· " + item.disabled)); }
      li.appendChild(text);
      self.list.appendChild(li);
    });
    this.list.hidden = !items.length;
    this.none.hidden = !!items.length;
    this.expanded(!!items.length);
    this.status.textContent = items.length
      ? items.length + (items.length === 1 ? " person found" : " people found") + ", use the up and down arrows to choose"
      : "No active colleague matches";
    this.highlight();
  };
  Listbox.prototype.hide = function () {
    this.list.hidden = true;
    this.none.hidden = true;
    this.items = [];
    this.active = -1;
    this.status.textContent = "";
    this.expanded(false);
    this.input.removeAttribute("aria-activedescendant");
  };
  Listbox.prototype.isOpen = function () { return !this.list.hidden || !this.none.hidden; };
  Listbox.prototype.highlight = function () {
    var self = this;
    Array.prototype.forEach.call(this.list.children, function (li, i) {
      li.setAttribute("aria-selected", i === self.active ? "true" : "false");
    });
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", this.list.id + "-" + this.active);
    else this.input.removeAttribute("aria-activedescendant");
  };
  Listbox.prototype.pick = function (i) {
    var item = this.items[i];
    if (item && item.disabled) return;
    this.hide();
    if (item) this.onPick(item);
  };
  Listbox.prototype.keydown = function (e) {
    if (!this.isOpen()) return false;
    if (e.key === "ArrowDown") { var down = this.next(this.active, 1); if (down >= 0) this.active = down; this.highlight(); }
    else if (e.key === "ArrowUp") { var up = this.next(this.active, -1); if (up >= 0) this.active = up; this.highlight(); }
    else if ((e.key === "Enter" || e.key === "Tab") && this.active >= 0 && this.items.length) { this.pick(this.active); }
    else if (e.key === "Escape") { this.hide(); }
    else return false;
    e.preventDefault();
    return true;
  };

  function ensureOption(select, item) {
    var opt = select.querySelector('option[value="' + item.id + '"]');
    if (!opt) {
      opt = el("option", { value: item.id, "data-name": item.display_name }, item.display_name);
      select.appendChild(opt);
    }
    return opt;
  }

  /* Mentions: "@jo" in a textarea offers active colleagues; picking writes "@Name" and records the id. */
  function initMentions(textarea) {
    var form = textarea.form;
    var select = form.querySelector("[data-mention-select]");
    var fallback = form.querySelector("[data-mention-fallback]");
    if (fallback) fallback.hidden = true;
    var box = new Listbox(textarea.parentNode, textarea, function (item) {
      var caret = textarea.selectionStart;
      var before = textarea.value.slice(0, caret).replace(/@([^\s@]{0,40})$/, "@" + item.display_name + " ");
      textarea.value = before + textarea.value.slice(caret);
      textarea.setSelectionRange(before.length, before.length);
      if (select) {
        ensureOption(select, item).selected = true;
      } else if (!form.querySelector('input[name="mentions"][value="' + item.id + '"]')) {
        form.appendChild(el("input", { type: "hidden", name: "mentions", value: item.id, "data-name": item.display_name }));
      }
      textarea.dispatchEvent(new Event("input"));
      textarea.focus();
    }, "People to mention");
    textarea.addEventListener("input", function () {
      var match = textarea.value.slice(0, textarea.selectionStart).match(/(^|\s)@([^\s@]{1,40})$/);
      if (match) { search(match[2], function (items) { box.show(items); }); } else { box.hide(); }
    });
    textarea.addEventListener("keydown", function (e) { box.keydown(e); });
    textarea.addEventListener("blur", function () { setTimeout(function () { box.hide(); }, 150); });
    form.addEventListener("submit", function () {
      form.querySelectorAll('input[type="hidden"][name="mentions"]').forEach(function (hidden) {
        if (textarea.value.indexOf("@" + hidden.getAttribute("data-name")) === -1) hidden.remove();
      });
      if (!select) return;
      Array.prototype.forEach.call(select.options, function (opt) {
        if (opt.selected && textarea.value.indexOf("@" + opt.getAttribute("data-name")) === -1) opt.selected = false;
      });
    });
  }

  /* Live preview: the text as it will read, with mentions highlighted. */
  function initPreview(textarea) {
    var preview = document.getElementById(textarea.getAttribute("data-preview"));
    if (!preview) return;
    var select = textarea.form && textarea.form.querySelector("[data-mention-select]");
    function update() {
      var text = textarea.value;
      preview.hidden = !text.trim();
      preview.textContent = "";
      if (!text.trim()) return;
      var names = [];
      if (select) Array.prototype.forEach.call(select.options, function (o) { if (o.selected) names.push(o.getAttribute("data-name")); });
      names.sort(function (a, b) { return b.length - a.length; });
      var i = 0;
      while (i < text.length) {
        var found = null;
        if (text[i] === "@") {
          for (var n = 0; n < names.length; n++) {
            if (text.substr(i + 1, names[n].length) === names[n]) { found = names[n]; break; }
          }
        }
        if (found) {
          preview.appendChild(el("span", { "class": "mention" }, "@" + found));
          i += found.length + 1;
        } else {
          var next = text.indexOf("@", i + 1);
          var chunk = text.slice(i, next === -1 ? text.length : next);
          preview.appendChild(document.createTextNode(chunk));
          i += chunk.length;
        }
      }
    }
    textarea.addEventListener("input", update);
    update();
  }

  /* People picker: the plain <select> becomes a search box with chips. */
  function initPicker(wrapper) {
    var select = wrapper.querySelector("[data-picker-select]");
    if (!select) return;
    var multiple = select.multiple;
    /* People who may not be picked here: never offered (the person the page acts on), or, with a
       label, shown greyed out saying why (those in the chat already). */
    var excluded = (wrapper.getAttribute("data-exclude") || "").split(/\s+/).filter(Boolean);
    var excludedLabel = wrapper.getAttribute("data-exclude-label") || "";
    var label = wrapper.querySelector("label");
    var ac = wrapper.querySelector(".ac");
    var input = el("input", { type: "text", autocomplete: "off", placeholder: "Type a name…", id: select.id + "-search" });
    if (label) label.setAttribute("for", input.id);
    var chips = el("div", { "class": "chips", "aria-live": "polite" });
    /* The input reads empty once a person is chosen (the chip is after it): its description names them. */
    var chosen = el("span", { "class": "visually-hidden", id: input.id + "-chosen" });
    /* The server's error (and hint) describe the select: they move to the input that stands for it,
       so the error is read with it and the page's first invalid control, focused below, is it. */
    var described = (select.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    input.setAttribute("aria-describedby", [chosen.id].concat(described).join(" "));
    if (select.getAttribute("aria-invalid") === "true") input.setAttribute("aria-invalid", "true");
    select.removeAttribute("aria-invalid");
    select.removeAttribute("aria-describedby");
    select.hidden = true;
    select.required = false;  /* a hidden control cannot show the browser's message; the server checks */
    select.setAttribute("aria-hidden", "true");
    select.tabIndex = -1;
    ac.appendChild(input);
    wrapper.insertBefore(chips, ac.nextSibling);

    function render() {
      chips.textContent = "";
      var names = [];
      Array.prototype.forEach.call(select.options, function (opt) {
        if (!opt.selected || !opt.value) return;
        var chip = el("span", { "class": "chip" }, opt.getAttribute("data-name") || opt.textContent.split(" — ")[0]);
        names.push(chip.textContent);
        var remove = el("button", { type: "button", "aria-label": "Remove " + chip.textContent }, "×");
        remove.addEventListener("click", function () { opt.selected = false; render(); input.focus(); });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
      chosen.textContent = names.length ? "Chosen: " + names.join(", ") : "Nobody chosen";
    }
    var box = new Listbox(ac, input, function (item) {
      if (!multiple) Array.prototype.forEach.call(select.options, function (o) { o.selected = false; });
      ensureOption(select, item).selected = true;
      input.value = "";
      render();
      input.focus();
    });
    ac.appendChild(chosen);
    var source = wrapper.getAttribute("data-source");
    input.addEventListener("input", function () {
      var q = input.value.trim();
      if (q) {
        search(q, function (items) {
          box.show(excludedLabel
            ? items.map(function (item) {
                return excluded.indexOf(item.id) === -1 ? item : Object.assign({}, item, { disabled: excludedLabel });
              })
            : items.filter(function (item) { return excluded.indexOf(item.id) < 0; }));
        }, source);
      } else { box.hide(); }
    });
    input.addEventListener("keydown", function (e) {
      if (!box.keydown(e) && e.key === "Enter") e.preventDefault();
    });
    input.addEventListener("blur", function () { setTimeout(function () { box.hide(); }, 150); });
    render();
  }

  /* "Who can see it": the chosen people's picker shows while "Only chosen people" is checked, and
     takes the focus when it is picked. (Without this script it is always in view.) */
  function initAudience(fieldset) {
    var people = fieldset.querySelector("[data-audience-people]");
    var radios = fieldset.querySelectorAll('input[type="radio"]');
    if (!people) return;
    function update(focus) {
      var chosen = !!fieldset.querySelector('input[type="radio"][value="people"]:checked');
      people.hidden = !chosen;
      var input = people.querySelector('input[type="text"]');
      if (chosen && focus && input) input.focus();
    }
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", function () { update(true); });
    });
    update(false);
  }

  /* Type-to-confirm: the destructive button waits for the exact email. It stays in the Tab order
     (aria-disabled, not disabled) with the reason beside it, so nobody misses it or wonders why it
     does nothing; until then sending the form only takes the focus back to the field. */
  function initTypeToConfirm(marker) {
    var input = document.getElementById(marker.getAttribute("data-confirm-input")) || marker;
    var expected = (marker.getAttribute("data-confirm-match") || "").toLowerCase();
    var button = document.getElementById(marker.getAttribute("data-confirm-button"));
    if (!button) return;
    var why = el("span", { "class": "hint", id: button.id + "-why" }, "Type the email above to turn this button on.");
    button.parentNode.appendChild(why);
    function ready() { return input.value.trim().toLowerCase() === expected; }
    function update() {
      var ok = ready();
      button.setAttribute("aria-disabled", ok ? "false" : "true");
      why.hidden = ok;
      if (ok) button.removeAttribute("aria-describedby");
      else button.setAttribute("aria-describedby", why.id);
    }
    if (button.form) {
      button.form.addEventListener("submit", function (e) {
        /* Before the form's own confirmation, if it has one: there is nothing to confirm yet. */
        if (!ready()) { e.preventDefault(); e.stopImmediatePropagation(); input.focus(); }
      });
    }
    input.addEventListener("input", update);
    update();
  }

  /* A photo shows the moment it is chosen, before it is uploaded. */
  function initPhotoPreview(input) {
    var target = document.getElementById(input.getAttribute("data-photo-preview"));
    if (!target) return;
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file || !/^image\//.test(file.type)) return;
      var reader = new FileReader();
      reader.onload = function () {
        var img = target.querySelector("img") || target.appendChild(el("img", { alt: "" }));
        img.src = reader.result;
      };
      reader.readAsDataURL(file);
    });
  }

  /* Character counter for long text. */
  function initCounter(field) {
    var out = document.getElementById(field.getAttribute("data-counter"));
    var max = +field.getAttribute("maxlength");
    if (!out || !max) return;
    function update() { out.textContent = field.value.length + " / " + max; }
    field.addEventListener("input", update);
    update();
  }

  /* The menu folds behind its button on a narrow window and stays open beside the page on a wide
     one. (Without this script it starts open and its button still folds it.) */
  var NARROW = "(max-width: 960px)";
  function initNavMenu(menu) {
    var narrow = window.matchMedia(NARROW);
    function fit() { menu.open = !narrow.matches; }
    fit();
    if (narrow.addEventListener) narrow.addEventListener("change", fit);
  }

  /* On a phone a table shows each row as a card: every cell gets its column's name to show above it. */
  function labelCells(table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) return;
    /* The first column names the row, after any column of selection boxes. */
    var naming = 0;
    while (heads[naming] && heads[naming].classList.contains("check")) naming++;
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        var head = heads[i];
        /* The naming column needs no name; nor does a column named only for screen readers (actions, boxes). */
        if (i === naming || !head || head.querySelector(".visually-hidden")) return;
        var label = head.textContent.trim();
        if (label && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", label);
      });
    });
  }

  /* A list's "select all" and how many are chosen; without a script the boxes and buttons work alone. */
  function initBulk(form) {
    var boxes = form.querySelectorAll("input[type=checkbox][name=user_id]");
    var all = form.querySelector("[data-bulk-all]");
    var count = form.querySelector("[data-bulk-count]");
    function update() {
      var n = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      if (count) count.textContent = n ? n + (n === 1 ? " person selected" : " people selected") : "";
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
    }
    if (all && boxes.length) {
      all.closest("label").hidden = false;
      all.addEventListener("change", function () {
        Array.prototype.forEach.call(boxes, function (b) { b.checked = all.checked; });
        update();
      });
    }
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", update); });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-nav-menu]").forEach(initNavMenu);
    document.querySelectorAll("table.table").forEach(labelCells);
    document.querySelectorAll("[data-mention]").forEach(initMentions);
    document.querySelectorAll("textarea[data-preview]").forEach(initPreview);
    document.querySelectorAll("[data-picker]").forEach(initPicker);
    document.querySelectorAll("[data-audience]").forEach(initAudience);
    document.querySelectorAll("[data-confirm-match]").forEach(initTypeToConfirm);
    document.querySelectorAll("input[data-photo-preview]").forEach(initPhotoPreview);
    document.querySelectorAll("[data-counter]").forEach(initCounter);
    document.querySelectorAll("form[data-bulk]").forEach(initBulk);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
    var main = document.getElementById("main");
    /* The first control the server refused takes the focus; for a group (radios, checkboxes) that
       is its chosen or first control. */
    var firstError = document.querySelector("[aria-invalid='true']");
    if (firstError && firstError.tagName === "FIELDSET") {
      firstError = firstError.querySelector("input:checked") || firstError.querySelector("input, select, textarea, button");
    }
    if (firstError) firstError.focus();
    else if (main && location.hash === "") main.blur();
  });
})();
