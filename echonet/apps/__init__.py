"""Applications built on the stack beside the DRready ones (layer 5, see docs/architecture.md):

* :mod:`echonet.apps.emulate`: emulated objects of any class the spec tables know (``echonet serve --class``);
* :mod:`echonet.apps.values`: values of a property type made up for a purpose (initial, settable, refused);
* :mod:`echonet.apps.quirks`: field behaviours of deployed devices, reproduced on a node (``echonet serve --quirk``).
"""
