"""What every host node (Nuke, Blender) does the same way, kept free of any host's API.

A node's life is: ask the server what it offers (GetInfo) and build its controls from that; on a
button, read the controls in the UI thread into plain requests (``pb`` messages, paths); run the
request in a background thread that streams frames and writes plates, reporting progress and
honouring a cancel; back in the UI thread, show the result or a message the artist can act on.
Only the first and last steps touch the host, so everything here is tested without one.

One module per job, in the order a node uses them:

- ``controls``: knob specs built from GetInfo, and reading a node's controls (snapshots)
- ``keys``: animated controls sampled over the shot and reduced to EmotionKeys
- ``requests``: ManipulateSettings / TrackSettings from the controls; Track, TrainActor, GetInfo calls
- ``plates``: input frame files, the Manipulate call and its plates written atomically
- ``background``: node work on a worker thread, with progress and cancel
- ``messages``: ``HostError`` and the message an artist reads when something fails

The package imports the client (``ned_plugin.client``) and the media core, never ``cli`` or ``batch``.
"""
