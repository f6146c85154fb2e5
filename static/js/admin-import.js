// The import page: a field's button on the right shows where the document states it on the left.
(function () {
  "use strict";
  function show(ident) {
    document.querySelectorAll("mark.active").forEach(function (mark) {
      mark.classList.remove("active");
    });
    var marks = document.querySelectorAll('mark[data-fields~="' + ident + '"]');
    marks.forEach(function (mark) {
      mark.classList.add("active");
    });
    if (marks.length) {
      marks[0].scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.source-link");
    if (button) {
      show(button.dataset.field);
    }
  });
})();
