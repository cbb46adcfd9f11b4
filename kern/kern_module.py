"""(placeholder: being written)"""


def module_init(machine):  # placeholder boot hook
    return None


def module_init_builtins(machine):  # placeholder boot hook
    return None


def module_start_thread(machine):  # placeholder boot hook
    return None
