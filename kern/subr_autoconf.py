"""(placeholder: being written)"""


def config_init(machine):  # placeholder boot hook
    return None


def configure_pseudo(machine):  # placeholder boot hook
    return None
