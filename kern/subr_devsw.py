"""(placeholder: being written)"""


def devsw_init(machine):  # placeholder boot hook
    return None
