// The entry page's live view is one long MJPEG request. When the stream brings the sealed clip, the clip takes
// the live view's place; the picture's request is ended first, since a detached image may keep loading.
document.addEventListener("htmx:sseBeforeMessage", (event) => {
  const media = event.target;
  if (!(media instanceof Element) || media.id !== "media" || !event.detail || event.detail.type !== "clip") {
    return;
  }
  for (const live of media.querySelectorAll("img[data-live]")) {
    live.removeAttribute("src");
  }
});
