"""Operations: the on-call commands (``pog leaderboards``, ...) and how their parts are assembled."""
