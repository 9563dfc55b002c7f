"""Convert timm's mobileone_sX checkpoints into mmmobileone keys (``SRC DST [--backbone-only]``)."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.published import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(source='timm'))
