"""The `newswire` command (cli.py), building and running a job (job/) and the other commands
(commands/)."""
