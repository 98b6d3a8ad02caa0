"""What fogsim's HTTP server and its CLI agree on beyond fog05's routes."""

# With ``?offset=N`` the log route answers the next piece and, in this header, where it
# ends, so a follower (``fogsim instance log --follow``) asks from there next time.
LOG_END_HEADER = "X-Fogsim-Log-End"
