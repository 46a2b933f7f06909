// A video's or an upload's processing in words, the same on every page (the studio's
// lists, the upload page, the video page): queued with how many jobs are ahead of it,
// processing with its percent, or watchable while its other qualities are still made.

function queued(queue) {
  if (!queue || queue.state !== "queued") return null;
  if (queue.retry_at) return "queued to retry";
  return queue.ahead ? `queued, ${queue.ahead} ahead of it` : "queued, next";
}

// `item` is a video from /api/videos (progress, queue, ladder) or an upload's status
// from /api/upload/status/{id} (processing_percent, queue).
export function processingText(item) {
  const percent = Math.floor(item.processing_percent ?? item.progress ?? 0);
  const waiting = queued(item.queue);
  if (item.state === "processing") {
    return waiting ? waiting[0].toUpperCase() + waiting.slice(1) : `Processing ${percent}%`;
  }
  if (item.state === "ready" && item.ladder === "pending") {
    return `Watchable · other qualities ${waiting || percent + "%"}`;
  }
  if (item.state === "ready" && item.ladder === "failed") return "Watchable · other qualities failed";
  if (item.state === "ready") return "Ready";
  return "Failed";
}
