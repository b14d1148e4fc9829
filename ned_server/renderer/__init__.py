"""The neural face renderer (Head2Head++ style, as used by NED): conditioning images in, a face out.

Modules, one job each:

* ``config``      - network sizes, losses, training and inference settings; ``paper`` / ``tiny`` presets.
* ``dataset``     - ``ActorClip`` (one tracked shot's aligned data), .npz save/load, ``SequenceDataset``.
* ``shot_data``   - ``actor_clips_from_shot``: a tracked shot's frames + conditioning -> ``ActorClip``s;
  ``align_frames_to_crop`` (plate frames into the aligned crop, anti-aliased).
* ``recurrence``  - how the generator is driven frame by frame (window replication, blank start,
  feedback frames): the one convention training and inference share.
* ``networks``    - generator, multi-scale patch and mouth discriminators, the mouth crop.
* ``vgg``         - VGG-19 rebuilt with torchvision's indices, ``load_vgg19``, the perceptual loss.
* ``losses``      - LSGAN and feature matching.
* ``train``       - ``RendererTrainer`` (progress, cancel, checkpoints, resume, AMP), meta-renderer,
  ``fine_tune``.
* ``checkpoint``  - file layout, atomic writes, safe loading, ``summary`` for actor listings.
* ``inference``   - ``FaceRenderer.render_sequence`` / ``render_range`` (chunks with preroll).
* ``metrics``     - APD, FAPD, mouth-APD as the paper defines them.
* ``plots``       - loss curves and sample sheets (PNG).
* ``toy``         - toy actors (2D faces) to train and test on until tracked data exists.
* ``cli``         - ``ned train-actor`` (``train_actor_main``).

Nothing is imported here so that importing a light module (e.g. ``config``) does not load torch.
"""
