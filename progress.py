"""The progress bars of long commands: one look for the GAN's epochs, the classifier's models and the quality steps."""

import os

QUIET_VARIABLE = "XGAN_NO_PROGRESS"  # set (to 1) in worker processes: their parent draws the one bar of the command


def progress_bar(total: int, description: str, unit: str, initial: int = 0):
    """A tqdm bar on stderr that fits the terminal's width and stays on screen when done; none in a worker process."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True, leave=True,
                disable=os.environ.get(QUIET_VARIABLE) == "1")
