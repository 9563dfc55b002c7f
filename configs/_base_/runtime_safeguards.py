# mmmobileone's run-time safeguards, which every shipped config declares (docs/workflow.md, "What
# survives what"). They are part of the experiment: a config built by tools/train.py, by
# `Runner.from_cfg(Config.fromfile(CONFIG))`, by `mim train` or by a host library's own tools
# runs with the same hooks and data classes.
#
# This file only defines names (no Runner key), so it can sit next to any host base without a
# duplicate key. A config inheriting it (directly or through its bases) uses
#   default_hooks = dict(**_base_.safeguard_hooks)     # merged into the host's default_hooks
#   custom_imports = dict(imports=_base_.safeguard_imports + [...], allow_failed_imports=False)
# and names mmmobileone's checked data classes (mmmobileone.LoadImageFromFile, and in mmdet
# configs mmmobileone.CocoDataset / mmmobileone.CocoMetric) in its pipelines and data entries.
# The hooks sit in `default_hooks` (a dict, merged key by key through inheritance), not in
# `custom_hooks` (a list, which a child's list replaces), so a child config that writes its own
# custom_hooks keeps them.
#
#   checkpoint        atomic saves; old checkpoints removed only after the new one is written;
#                     no checkpoint with non-finite weights (mmmobileone.SafeCheckpointHook)
#   finite_loss       stop at the first NaN / inf loss, before any checkpoint is written
#   epoch_seed        re-seed the main process every epoch (every iteration of an
#                     iteration-based loop): a resumed run repeats the uninterrupted one
#   pretrained_check  refuse a `Pretrained` init_cfg that would leave tensors unloaded
safeguard_hooks = dict(
    checkpoint=dict(type='mmmobileone.SafeCheckpointHook'),
    finite_loss=dict(type='mmmobileone.FiniteLossHook'),
    epoch_seed=dict(type='mmmobileone.EpochSeedHook'),
    pretrained_check=dict(type='mmmobileone.PretrainedInitCheckHook'),
)
# `mmmobileone` registers the hooks; `mmmobileone.integrations.mmcv` the checked image loading
# (mmmobileone.LoadImageFromFile: an unreadable image stops training with its file name).
safeguard_imports = ['mmmobileone', 'mmmobileone.integrations.mmcv']
