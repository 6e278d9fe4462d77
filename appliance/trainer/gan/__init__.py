"""A conditional WGAN-GP that makes synthetic patches of one class (issue 14).

``config`` holds the paper's knobs, ``models`` the generator and critic, ``training`` the loop
(checkpoints, sample grids, progress), ``cli`` the ``histo-appliance-train gan`` command. FID and
KID live in :mod:`appliance.trainer.fid`. Trainer-only: it needs TensorFlow.
"""
