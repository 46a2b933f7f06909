// Drives tus-js-client (Node) against a trioflix server for
// tests/trioflix/uploads/test_tus_js_client.py.
//
//   node tests/js/tus_upload.mjs '{"scenario": "...", "endpoint": "...", "token": "...", ...}'
//
// Scenarios:
//   upload   the whole file; with "parallel": N, tus-js-client's parallelUploads
//            (N partial uploads joined by a final one: the concatenation extension);
//            with "checksum": "sha256" (or "wrong"), an Upload-Checksum on every PATCH
//   abort    start the upload, remembering its URL in "storage" (FileUrlStorage,
//            keyed by tus-js-client's fingerprint), and abort() mid-request once
//            "abortAt" bytes are sent
//   resume   a new Upload of the same file: finds the earlier one by fingerprint in
//            "storage" (or takes "uploadUrl"), asks the server for the offset, finishes
//
// Any scenario: "pauseMs" waits that long before each PATCH.
//
// Prints one JSON object on stdout: {url, offsets, requests: [{method, status, ...}]}.
// Exits 1 with the error on stderr if the upload fails.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";

import { DefaultHttpStack, FileUrlStorage, Upload } from "tus-js-client";

const config = JSON.parse(process.argv[2]);
const requests = []; // in the order sent; parallel parts interleave
const pending = new Map(); // request -> its entry in `requests`
const result = { url: null, requests };

// tus-js-client has no checksum extension support (nothing in 4.3.1 sends
// Upload-Checksum), so the "checksum" option is supplied through its public
// httpStack hook: each PATCH body (one chunk, bounded by chunkSize) is read,
// hashed, and sent with the header. "wrong" sends a digest of other bytes.
class ChecksumHttpStack {
  constructor(algorithm) {
    this.inner = new DefaultHttpStack();
    this.algorithm = algorithm;
  }

  createRequest(method, url) {
    const request = this.inner.createRequest(method, url);
    if (method !== "PATCH") return request;
    const algorithm = this.algorithm;
    const send = request.send.bind(request);
    request.send = async (body) => {
      const chunks = [];
      if (body instanceof Readable) {
        for await (const chunk of body) chunks.push(chunk);
      } else if (body) {
        chunks.push(Buffer.from(body));
      }
      const data = Buffer.concat(chunks);
      const hashed = algorithm === "wrong" ? Buffer.concat([data, Buffer.from("x")]) : data;
      const name = algorithm === "wrong" ? "sha256" : algorithm;
      const digest = createHash(name).update(hashed).digest("base64");
      request.setHeader("Upload-Checksum", `${name} ${digest}`);
      return send(data);
    };
    return request;
  }

  getName() {
    return "ChecksumHttpStack";
  }
}

function options(extra) {
  return {
    endpoint: config.endpoint,
    headers: { Authorization: `Bearer ${config.token}` },
    metadata: { filename: config.filename ?? "clip.mp4", filetype: "video/mp4" },
    chunkSize: config.chunkSize ?? Number.POSITIVE_INFINITY,
    retryDelays: [0, 200, 500],
    // Spread only what is set: an `undefined` value would replace the default.
    ...(config.storage ? { urlStorage: new FileUrlStorage(config.storage) } : {}),
    ...(config.checksum ? { httpStack: new ChecksumHttpStack(config.checksum) } : {}),
    onBeforeRequest(req) {
      const entry = { method: req.getMethod() };
      if (entry.method === "POST") entry.concat = req.getHeader("Upload-Concat") ?? null;
      pending.set(req, entry);
      requests.push(entry);
      // "pauseMs": wait that long before each PATCH (tus-js-client awaits a
      // returned promise), so that a test can act in the middle of an upload.
      if (config.pauseMs && entry.method === "PATCH") {
        return new Promise((resolve) => setTimeout(resolve, config.pauseMs));
      }
      return undefined;
    },
    onAfterResponse(req, res) {
      const entry = pending.get(req);
      entry.status = res.getStatus();
      const location = res.getHeader("Location");
      if (location) entry.location = location;
      const offset = res.getHeader("Upload-Offset");
      if (offset !== undefined && offset !== null) entry.offset = Number(offset);
    },
    ...extra,
  };
}

function run(upload) {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = () => resolve();
    upload.options.onError = (error) => reject(error);
    upload.start();
  });
}

function file() {
  // A ReadStream with a path: tus-js-client reads slices of the file from disk
  // (never the whole file), which parallelUploads needs.
  return createReadStream(config.file);
}

async function main() {
  if (config.scenario === "upload") {
    const upload = new Upload(file(), options({ parallelUploads: config.parallel ?? 1 }));
    await run(upload);
    result.url = upload.url;
  } else if (config.scenario === "abort") {
    const upload = new Upload(file(), options({}));
    await new Promise((resolve, reject) => {
      upload.options.onProgress = (sent) => {
        if (sent >= config.abortAt && result.url === null) {
          result.url = upload.url;
          result.sent = sent;
          upload.abort().then(resolve, reject);
        }
      };
      upload.options.onSuccess = () => reject(new Error("finished before the abort"));
      upload.options.onError = reject;
      upload.start();
    });
  } else if (config.scenario === "resume") {
    const extra = config.uploadUrl ? { uploadUrl: config.uploadUrl } : {};
    const upload = new Upload(file(), options(extra));
    if (!config.uploadUrl) {
      const previous = await upload.findPreviousUploads();
      if (previous.length !== 1) {
        throw new Error(`expected 1 earlier upload, found ${previous.length}`);
      }
      upload.resumeFromPreviousUpload(previous[0]);
    }
    await run(upload);
    result.url = upload.url;
  } else {
    throw new Error(`unknown scenario ${config.scenario}`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.stdout.write(`${JSON.stringify({ ...result, error: String(error) })}\n`);
  process.exit(1);
});
