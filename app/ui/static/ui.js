// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Results as you type: fetch the results fragment for the form's current values.
  var form = document.getElementById("search-form");
  var results = document.getElementById("results");
  if (form && results) {
    var timer = null;
    var latest = 0;
    var refresh = function () {
      var query = new URLSearchParams(new FormData(form));
      query.set("partial", "1");
      var ticket = ++latest;
      fetch(form.action + "?" + query.toString(), { headers: { "Accept": "text/html" } })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (ticket !== latest) { return; }
          results.innerHTML = html;
          query.delete("partial");
          history.replaceState(null, "", "?" + query.toString());
        });
    };
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    });
  }
  // Copy buttons next to identifiers.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button || !navigator.clipboard) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = button.getAttribute("data-done");
    });
  });
})();
