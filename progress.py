"""The progress bars of long commands: one look for the GAN's epochs, the classifier's models and the quality steps."""


def progress_bar(total: int, description: str, unit: str, initial: int = 0):
    """A tqdm bar on stderr that fits the terminal's width and stays on screen when done."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True, leave=True)
