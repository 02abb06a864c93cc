"""Progress of a fit: a tqdm bar when tqdm is installed, else one plain line per epoch."""

import sys
import time


def _format_seconds(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class EpochProgress:
    """Reports each epoch's loss and validation score, with the time left.

    Parameters
    ----------
    total : int
        Epochs this fit may run (``max_iter``); the ETA assumes all of them.
    description : str
        Shown before the bar or lines.
    use_tqdm : bool or None, default=None
        None: tqdm when it can be imported.
    stream : file-like, default=sys.stdout
    unit : str, default="epoch"
        What one step is called ("iteration" for lbfgs).
    """

    def __init__(self, total, description, use_tqdm=None, stream=None, unit="epoch"):
        self.total = total
        self.description = description
        self.unit = unit
        self.stream = sys.stdout if stream is None else stream
        self.start = time.perf_counter()
        self.done = 0
        self.bar = None
        if use_tqdm is not False:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                if use_tqdm:
                    raise
            else:
                self.bar = tqdm(total=total, desc=description, unit=unit, file=self.stream,
                                dynamic_ncols=True)

    def update(self, epoch, loss, validation_score=None):
        """One more epoch finished (``epoch`` counts all epochs, warm starts included)."""
        self.done += 1
        if self.bar is not None:
            postfix = {"loss": f"{loss:.4g}"}
            if validation_score is not None:
                postfix["validation"] = f"{validation_score:.4g}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        line = (f"{self.description} {self.unit} {epoch} ({self.done}/{self.total}): "
                f"loss = {loss:.8f}")
        if validation_score is not None:
            line += f", validation score = {validation_score:.6f}"
        line += f" [{_format_seconds(elapsed)} elapsed, ETA {_format_seconds(eta)}]"
        print(line, file=self.stream, flush=True)

    def note(self, message):
        """A message between epochs (learning-rate change, stopping)."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
