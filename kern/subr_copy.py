"""(placeholder: being written)"""


def uvm_user_init(machine):  # placeholder boot hook
    return None
