/* Carreau: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  /* Tabs, WAI-ARIA APG pattern with automatic activation. The server renders a list of
     links and one section per tab; here they become a tablist with arrow-key navigation. */
  function enhanceTabs(root) {
    if (root.dataset.enhanced) return;
    root.dataset.enhanced = "true";
    var list = root.querySelector(".cr-tabs__list");
    var tabs = Array.prototype.slice.call(root.querySelectorAll(".cr-tabs__tab"));
    list.setAttribute("role", "tablist");
    Array.prototype.forEach.call(list.children, function (item) { item.setAttribute("role", "presentation"); });
    tabs.forEach(function (tab) {
      var panel = document.getElementById(tab.getAttribute("aria-controls"));
      tab.setAttribute("role", "tab");
      tab.removeAttribute("href");
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
      panel.setAttribute("tabindex", "0");
      tab.addEventListener("click", function () { select(tab); });
      tab.addEventListener("keydown", function (event) {
        var index = tabs.indexOf(tab);
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") next = tabs[0];
        else if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) { event.preventDefault(); select(next); next.focus(); }
      });
    });
    function select(chosen) {
      tabs.forEach(function (tab) {
        var selected = tab === chosen;
        tab.setAttribute("aria-selected", String(selected));
        tab.setAttribute("tabindex", selected ? "0" : "-1");
        document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
      });
    }
    root.classList.add("cr-tabs--enhanced");
    select(tabs[0]);
  }

  /* Dialogs: a button with data-dialog-open="id" opens the native <dialog>; focus returns to it. */
  function enhanceDialogTrigger(trigger) {
    if (trigger.dataset.enhanced) return;
    trigger.dataset.enhanced = "true";
    var dialog = document.getElementById(trigger.getAttribute("data-dialog-open"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    trigger.hidden = false;
    trigger.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
    });
    dialog.addEventListener("close", function () { trigger.focus(); });
    Array.prototype.forEach.call(dialog.querySelectorAll("[data-dialog-close]"), function (button) {
      button.addEventListener("click", function () { dialog.close(); });
    });
  }

  /* Drafts: a form marked data-draft="key" keeps what is typed in localStorage, so that nothing
     is lost if the session expires or the page is left. The draft comes back only into empty
     fields (a form the server sent back with the person's input wins), and is cleared when a page
     carries data-draft-clear="key" (the server confirmed the submission) or at sign-out. */
  var DRAFT_PREFIX = "carreau-draft:";
  var DRAFT_MAX_AGE = 30 * 24 * 3600 * 1000;

  function draftStorage() {
    try {
      var storage = window.localStorage;
      storage.setItem(DRAFT_PREFIX + "probe", "1");
      storage.removeItem(DRAFT_PREFIX + "probe");
      return storage;
    } catch (error) {
      return null; /* private browsing, storage disabled: forms simply work without drafts */
    }
  }

  function draftFields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      if (!field.name || field.name === "csrf_token" || field.disabled) return false;
      if (field.tagName === "TEXTAREA" || field.tagName === "SELECT") return true;
      return field.tagName === "INPUT" && /^(text|search|number|email|tel|url)$/.test(field.type);
    });
  }

  function enhanceDraft(form) {
    if (form.dataset.draftEnhanced) return;
    form.dataset.draftEnhanced = "true";
    var storage = draftStorage();
    if (!storage) return;
    var key = DRAFT_PREFIX + form.getAttribute("data-draft");
    var fields = draftFields(form);
    var saved = null;
    try { saved = JSON.parse(storage.getItem(key) || "null"); } catch (error) { saved = null; }
    if (saved && (!saved.at || Date.now() - saved.at > DRAFT_MAX_AGE)) {
      storage.removeItem(key);
      saved = null;
    }
    var empty = fields.every(function (field) { return !field.value; });
    if (saved && saved.values && empty) {
      var restored = false;
      fields.forEach(function (field) {
        if (typeof saved.values[field.name] === "string" && saved.values[field.name]) {
          field.value = saved.values[field.name];
          restored = true;
        }
      });
      if (restored) showDraftNotice(form, storage, key, fields);
    }
    var save = function () {
      var values = {};
      fields.forEach(function (field) { values[field.name] = field.value; });
      try { storage.setItem(key, JSON.stringify({ at: Date.now(), values: values })); } catch (error) { /* full */ }
    };
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  }

  function showDraftNotice(form, storage, key, fields) {
    var notice = document.createElement("div");
    notice.className = "cr-alert cr-alert--info cr-draft-notice";
    notice.setAttribute("role", "status");
    var text = document.createElement("p");
    text.textContent = form.getAttribute("data-draft-restored") || "";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "cr-button cr-button--tertiary";
    discard.textContent = form.getAttribute("data-draft-discard") || "";
    discard.addEventListener("click", function () {
      storage.removeItem(key);
      fields.forEach(function (field) { field.value = ""; });
      notice.remove();
      if (fields[0]) fields[0].focus();
    });
    notice.appendChild(text);
    notice.appendChild(discard);
    form.insertBefore(notice, form.firstChild);
  }

  function clearDrafts(root) {
    var storage = draftStorage();
    if (!storage) return;
    Array.prototype.forEach.call(root.querySelectorAll("[data-draft-clear]"), function (marker) {
      storage.removeItem(DRAFT_PREFIX + marker.getAttribute("data-draft-clear"));
    });
  }

  /* Signing out forgets every draft: the next person on a shared computer must not find them. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !/\/deconnexion$/.test(form.getAttribute("action") || "")) return;
    var storage = draftStorage();
    if (!storage) return;
    for (var index = storage.length - 1; index >= 0; index--) {
      var name = storage.key(index);
      if (name && name.indexOf(DRAFT_PREFIX) === 0) storage.removeItem(name);
    }
  });

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-tabs]"), enhanceTabs);
    Array.prototype.forEach.call(root.querySelectorAll("[data-dialog-open]"), enhanceDialogTrigger);
    clearDrafts(root);
    Array.prototype.forEach.call(root.querySelectorAll("form[data-draft]"), enhanceDraft);
  }

  /* A comment form that htmx sent empties itself once the comment is published (the form the
     server sends back is morphed in place, which keeps the focus but not an emptied text). */
  document.addEventListener("htmx:after:request", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var form = ctx && ctx.sourceElement;
    if (!form || !form.matches || !form.matches("form[data-clear-on-success]")) return;
    if (!ctx.response || ctx.response.status >= 400) return;
    Array.prototype.forEach.call(form.querySelectorAll("textarea"), function (field) { field.value = ""; });
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  /* htmx 4 event names: content swapped in later gets the same behaviour */
  document.addEventListener("htmx:after:swap", function (event) {
    enhance(event.target && event.target.querySelectorAll ? event.target : document);
  });
})();
