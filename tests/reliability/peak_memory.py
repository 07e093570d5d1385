"""Peak resident memory of this process, for the measuring subprocesses of the reliability tests."""


def peak_kib() -> int:
    """VmHWM in KiB. Not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child
    forked from a large test process would report the parent's peak and hide its own growth."""
    with open('/proc/self/status', encoding='ascii') as status:
        return next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))
