"""The durable job queue and its workers, shared by uploads and live recordings.

- :func:`trioflix.jobs.queue.enqueue` ``(tx, kind, payload, subject=...)`` adds a
  job, in the caller's transaction if it passes one;
- :class:`trioflix.jobs.worker.JobWorkers` claims and runs jobs with a
  concurrency limit, retries with backoff and leases that survive restarts;
- :func:`trioflix.jobs.process.run_job_process` runs the heavy part of a job
  in a low-priority child process.
"""
