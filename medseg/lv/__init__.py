"""LV myocardium segmentation in short-axis cine MR: multi-level ConvLSTM over a ResNet-56.

Public API:
    :class:`~medseg.lv.config.LVConfig` (settings), :class:`~medseg.lv.network.CineSegNet`
    (network), :func:`~medseg.lv.train.train`, :func:`~medseg.lv.segment.segment_study`,
    :func:`~medseg.lv.evaluate.evaluate_table`, :func:`~medseg.lv.model_io.load_model`,
    :func:`~medseg.lv.annotations.convert_annotation`.
"""
