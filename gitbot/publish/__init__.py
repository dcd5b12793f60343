"""Publishing a plan: pull requests (one per scope) and review comments, through git and GitHub."""
