"""The procedural head behind face3d.flame_generator: surface (implicit skin), features (where the
eyes, mouth, brows and landmarks are), mesh (triangulation, eyeballs, mouth, neck, UV atlas), rig
(skinning, joints, pose correctives), bases (shape and expression blend shapes) and embedding
(68-landmark embedding and FLAME_masks-style regions)."""
