// The composer's "/" menu (templates/chats/_command_menu.html). Typing "/" lists the commands; typing "--" after a
// prompt lists the options. ↑/↓ choose, Enter or Tab insert, Escape closes, a click inserts too.
// The keys are caught on the form in the capture phase, so while the menu is open Enter inserts the entry instead of
// sending (app.js sends on Enter), and ↑ moves in the menu instead of recalling the last message.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var composer = document.getElementById("composer");
    var input = document.getElementById("message-input");
    var menu = document.getElementById("command-menu");
    if (!composer || !input || !menu) return;
    var items = Array.prototype.slice.call(menu.querySelectorAll(".command-hint"));
    var announcer = document.getElementById("announcer");
    var shown = [];
    var active = -1;
    var replace = null; // {start, kind}: where the chosen entry goes

    var COMMAND = /^\/[\w-]*(?: [\w-]*){0,2}$/;
    var OPTION = /(?:^|\s)(--[\w-]*(?: [\w-]*)?)$/;

    function matching(kind, typed) {
      typed = typed.toLowerCase();
      return items.filter(function (item) {
        var insert = item.dataset.insert.toLowerCase();
        // Nothing left to complete once the entry is typed in full.
        var needs = (item.dataset.needs || "").toLowerCase();
        return item.dataset.kind === kind && insert.indexOf(typed) === 0 && insert.trim() !== typed.trim() &&
          typed.indexOf(needs) === 0;
      });
    }

    // What the caret is completing: the whole message while it is a bare command, else the --option before it.
    function findMatches() {
      var value = input.value;
      if (input.selectionStart !== value.length || value.indexOf("\n") !== -1) return [];
      if (COMMAND.test(value)) {
        var commands = matching("command", value);
        if (commands.length) { replace = { start: 0 }; return commands; }
      }
      var option = value.charAt(0) === "/" && value.match(OPTION);
      if (option) {
        replace = { start: value.length - option[1].length };
        return matching("option", option[1]);
      }
      return [];
    }

    function render() {
      var wasOpen = !menu.hidden;
      items.forEach(function (item) {
        item.hidden = shown.indexOf(item) === -1;
        var on = shown[active] === item;
        item.classList.toggle("active", on);
        item.setAttribute("aria-selected", on ? "true" : "false");
      });
      menu.hidden = shown.length === 0;
      if (shown.length && active >= 0) {
        input.setAttribute("aria-activedescendant", shown[active].id);
        shown[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
      if (!wasOpen && shown.length && announcer) {
        announcer.textContent = shown.length + (shown.length === 1 ? " suggestion" : " suggestions") +
          ": up and down arrows to choose, Enter to insert, Escape to close.";
      }
    }

    function update() {
      shown = findMatches();
      active = shown.length ? 0 : -1;
      render();
    }

    function close() {
      shown = [];
      active = -1;
      render();
    }

    function pick(item) {
      var value = input.value;
      input.value = value.slice(0, replace ? replace.start : 0) + item.dataset.insert;
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
      input.dispatchEvent(new Event("input", { bubbles: true })); // app.js grows the box; the menu updates
    }

    input.addEventListener("input", update);
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });

    composer.addEventListener("keydown", function (event) {
      if (event.target !== input || menu.hidden || event.isComposing) return;
      var handled = true;
      if (event.key === "ArrowDown") {
        active = (active + 1) % shown.length;
        render();
      } else if (event.key === "ArrowUp") {
        active = (active - 1 + shown.length) % shown.length;
        render();
      } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
        var item = shown[active];
        // Typed in full already ("/image help"): Enter sends it as it is, Tab moves on (no focus trap).
        if (!item || item.dataset.insert.trim() === input.value.trim()) {
          close();
          handled = false;
        } else {
          pick(item);
        }
      } else if (event.key === "Escape") {
        close();
      } else {
        handled = false;
      }
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    }, true);

    menu.addEventListener("mousedown", function (event) { event.preventDefault(); }); // keep the focus in the box
    menu.addEventListener("click", function (event) {
      var item = event.target.closest(".command-hint");
      if (item) pick(item);
    });
  });
})();
