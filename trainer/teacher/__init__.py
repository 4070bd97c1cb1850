"""Pretrained teachers for distillation and benchmarking (training time only).

:mod:`trainer.teacher.musicnn_net` is a PyTorch port of the MusiCNN music tagger (the
``musicnn`` package on PyPI, ISC licence, code and weights); its weights are read once
from the package's TensorFlow checkpoint by :mod:`trainer.teacher.tf_export`.
"""
