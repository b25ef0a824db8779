"""The MNIST half of sheetgen: a 7.6k-parameter CNN trained on CPU in minutes.

Modules, in the order data flows: config (settings), data (MNIST as device tensors and batch
augmentation), model (the CNN and its layer table), train (loop, run dir, resume),
export (torch.export of the trained model), cli (``sheetgen mnist ...``).
"""
