"""Recording every live session into the video library, then handing it to processing."""
