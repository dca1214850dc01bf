// htmx swaps only 2xx answers. When the server refuses an action with a page of its own (not found, not
// allowed, an error), the page would stay as it was and the button would seem to do nothing: show that
// page's content in place of this one's. A 4xx fragment (a form with its errors) is swapped where it was
// meant to go.
document.addEventListener("htmx:beforeSwap", (event) => {
  const detail = event.detail;
  if (detail.xhr.status < 400) {
    return;
  }
  detail.shouldSwap = true;
  detail.isError = false;
  const main = document.getElementById("main");
  if (main && /<main\b[^>]*\bid="main"/.test(detail.serverResponse)) {
    detail.target = main;
    detail.selectOverride = "#main";
    detail.swapOverride = "outerHTML";
  }
});
