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

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-tabs]"), enhanceTabs);
    Array.prototype.forEach.call(root.querySelectorAll("[data-dialog-open]"), enhanceDialogTrigger);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  /* htmx 4 event names: content swapped in later gets the same behaviour */
  document.addEventListener("htmx:after:swap", function (event) {
    enhance(event.target && event.target.querySelectorAll ? event.target : document);
  });
})();
