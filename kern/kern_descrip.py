"""(placeholder: being written)"""


def filedesc_init(machine):  # placeholder boot hook
    return None
