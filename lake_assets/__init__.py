# Before any module of this package imports an API that warns: the accepted library
# warnings are filtered in one place (resources/known_warnings.py says which and why).
from resources.known_warnings import install

install()
