"""The MNIST half of sheetgen: a 7,890-parameter CNN trained on CPU in minutes.

    python -m mnist train --data-dir ../shared/data      # or: sheetgen mnist train

Measured with ``python benchmarks/bench_mnist.py --data-dir ../shared/data`` on the 2-core
Intel(R) Xeon(R) Processor @ 2.50GHz of the development sandbox (shared with other work):
final-epoch test accuracy 99.49/99.47/99.51% for seeds 0/1/2 (mean 99.49%) after 15 epochs,
median 26.5 s per epoch, 7.5x the seed notebook's pipeline measured side by side.

Modules, in the order data flows: config (settings), data (MNIST as device tensors and batch
augmentation), model (the CNN and its layer table), train (loop, run dir, resume),
export (torch.export of the trained model), cli (``sheetgen mnist ...``).
"""
