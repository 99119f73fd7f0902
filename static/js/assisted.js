/* The claim code page: a button that opens the browser's print dialog. Without JavaScript it stays
   hidden and the page tells how to print with the browser's own command. */
(function () {
  "use strict";
  function enhance() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
