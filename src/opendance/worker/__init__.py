"""The worker: claim a task, render it off the event loop, store the video, report."""
