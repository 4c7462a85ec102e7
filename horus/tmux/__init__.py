"""Running jobs inside tmux panes: executor names, the tmux server, pane locks and job files.

``horus.workers.tmux`` is the runner built on these pieces; ``docs/tmux.md`` describes it.
"""
