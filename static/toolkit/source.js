// The source view opens at the cited passage. Links built with rag/rendering.py source_url carry
// "#passage" and need no script; links that do not (lists rendered elsewhere) get the fragment
// here, so the browser scrolls to it as it would for theirs, and a reload keeps the place.
if (!window.location.hash && document.getElementById("passage")) {
  window.location.replace("#passage");
}
