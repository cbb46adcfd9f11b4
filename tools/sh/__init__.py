"""The kemu shell's language: NetBSD sh's grammar, expansions and evaluation order.

* :mod:`tools.sh.parser`: the tokenizer and the recursive-descent parser of
  bin/sh/parser.c (``list``, ``andor``, ``pipeline``, ``command``,
  ``simplecmd``, here-documents, ``$((...))``) building a tree of
  bin/sh/nodetypes' nodes (NCMD, NPIPE, NAND, NOR, NSEMI, NIF, NWHILE,
  NUNTIL, NFOR, NNOT, NSUBSHELL, NREDIR, NBACKGND), with sh's syntax-error
  messages.
* :mod:`tools.sh.expand`: word expansion in sh's order (parameters, command
  substitution, arithmetic, field splitting, pathname expansion over the
  machine's directories, quote removal); expand.c's patmatch is a port.
* :mod:`tools.sh.arith`: a port of arith_token.c and arithmetic.c.
* :mod:`tools.sh.eval`: evaltree, run in the shell's process of the machine:
  builtins in the shell, every other command forked and exec'd, pipelines
  on pipe(2) with their processes running at once, wait(2) for the status;
  jobs.c's forkshell/forkchild, redir.c's redirections and trap.c's
  setsignal are ports.
* :mod:`tools.sh.main`: ``sh`` as a program of the machine (``sh -c``).

Each module's docstring says which parts are ports of which revision and
which are kemu's own design.  The host side (reading lines, the terminal,
Ctrl-C, the script runner) is :mod:`tools.shell`.
"""
