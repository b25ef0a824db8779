"""The MNIST half of sheetgen: a 7,890-parameter CNN trained on CPU in minutes.

    python -m mnist train                 # or: sheetgen mnist train [--data-dir DIR]

Measured with ``python benchmarks/bench_mnist.py`` on a 2-core Intel(R) Xeon(R) Processor
@ 2.50GHz, otherwise idle:
final-epoch test accuracy 99.48/99.55/99.54% for seeds 0/1/2 (mean 99.52%) after 15 epochs,
median 29.1 s per epoch, 8.8x the seed notebook's training throughput measured side by side.

Modules, in the order data flows: config (settings), data (MNIST as device tensors and batch
augmentation), model (the CNN and its layer table), train (loop, run dir, resume),
export (torch.export of the trained model), cli (``sheetgen mnist ...``).
"""
