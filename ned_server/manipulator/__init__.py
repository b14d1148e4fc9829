"""The 3D-based emotion manipulator (NED, CVPR 2022): expression sequences in, another emotion out.

Modules, one job each:

* ``networks``   - G, E, D, M with the official checkpoints' module names (``ManipulatorNetworks``).
* ``losses``     - LSGAN, style reconstruction, cycle, jaw-correlation (speech) losses.
* ``dataset``    - labelled expression clips: ``ned track`` .npz + MEAD/CSV/JSON/Aff-Wild2 labels,
  or the synthetic dataset.
* ``train``      - ``ManipulatorTrainer``: checkpoints, resume, cancel, progress, loss plot.
* ``checkpoint`` - our format, the official one, ``convert_official_checkpoint``, safe loading.
* ``windows``    - sliding windows, Gaussian overlap-merge, geometric median.
* ``controls``   - ``EmotionSettings``: label / mix / keyframes / reference, intensity, seed, speech.
* ``inference``  - ``EmotionManipulator.translate`` and ``extract_style``.
* ``evaluation`` - an independent emotion classifier and speech metrics (bench and tests).
* ``cli``        - ``ned train-manipulator``.

Nothing is imported here so that importing a light module (e.g. ``config``) does not load torch.
"""
