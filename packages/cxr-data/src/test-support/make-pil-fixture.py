"""Reference grey 32 x 32 resizes of a few real Kermany images, made with PIL (what torchvision uses).

Run with Debian's python (PIL installed): /usr/bin/python3 src/test-support/make-pil-fixture.py
Writes src/test-support/data/kermany-pil-32.json: per image, PIL's convert('L').resize((32, 32), BILINEAR) pixels, base64.
"""
import base64, json, os, sys
from PIL import Image

root = os.environ.get('MOCO_CXR_DATA') or os.path.join(os.path.dirname(__file__), '../../../../../shared/data/kermany-pediatric-cxr-224')
names = ['train/NORMAL/IM-0115-0001.jpeg', 'train/NORMAL/NORMAL2-IM-0927-0001.jpeg', 'train/NORMAL/IM-0429-0001-0002.jpeg',
         'train/PNEUMONIA/person1000_bacteria_2931.jpeg', 'train/PNEUMONIA/person1000_virus_1681.jpeg', 'test/PNEUMONIA/person100_bacteria_475.jpeg']
out = {'source': 'PIL ' + Image.__version__ + ": Image.open(f).convert('L').resize((32, 32), Image.BILINEAR)", 'size': 32, 'images': {}}
for n in names:
    im = Image.open(os.path.join(root, n)).convert('L')
    out['images'][n] = {'width': im.width, 'height': im.height, 'pixels': base64.b64encode(im.resize((32, 32), Image.BILINEAR).tobytes()).decode()}
with open(os.path.join(os.path.dirname(__file__), 'data/kermany-pil-32.json'), 'w') as f:
    json.dump(out, f, indent=1)
print('wrote', len(names), 'images', file=sys.stderr)
