"""git + DVC: commit and tag versions, resolve a revision to segment files, remotes."""
