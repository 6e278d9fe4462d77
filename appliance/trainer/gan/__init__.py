"""A conditional WGAN-GP that makes synthetic patches of one class (issue 14).

``config`` holds the paper's knobs, ``models`` the generator and critic, ``training`` the loop
(checkpoints, sample grids, progress), ``real`` the real images it learns from, ``curve`` FID/KID
at every checkpoint, ``study`` the with/without-synthetic tables, ``cli`` the
``histo-appliance-train gan`` command. FID and KID live in :mod:`appliance.trainer.fid`; the
classifier's side of synthetic images in :mod:`appliance.trainer.synthetic`. Trainer-only: it
needs TensorFlow (``study`` and ``curve``'s tables do not).
"""
