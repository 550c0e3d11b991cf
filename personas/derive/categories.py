"""The declared table that maps Complete Journey products onto the catalog's 15 categories.

Complete Journey labels each product with a ``department`` (GROCERY, PRODUCE, DRUG GM …)
and a finer ``product_category`` (SOFT DRINKS, FLUID MILK PRODUCTS …). The catalog sells
15 categories (``personas.vocab.CATEGORIES``). A product gets the first category whose
keyword occurs in its ``product_category`` (``KEYWORD_RULES``, checked in order, so "ICE
CREAM/MILK" is frozen before "MILK" can make it dairy), else its department's default
(``DEPARTMENT_DEFAULT``), else ``OTHER``. ``OTHER`` lines (fuel, tobacco, magazines, greeting
cards, general merchandise — about 8 % of lines) are not in any catalog category: they count
as lines of their basket but are left out of category shares and preferred categories.

The database source needs no table: its products already carry catalog categories.
"""

from __future__ import annotations

OTHER = "other"

KEYWORD_RULES: tuple[tuple[str, str], ...] = (
    # baby and pet before anything that shares a word with them ("BABY FOODS", "CAT FOOD")
    ("BABY", "baby"), ("DIAPER", "baby"), ("INFANT", "baby"),
    ("CAT FOOD", "pet"), ("DOG FOOD", "pet"), ("CAT LITTER", "pet"), ("PET ", "pet"),
    ("PETS", "pet"), ("BIRD", "pet"),
    ("SEAFOOD", "seafood"), ("FISH", "seafood"),
    # frozen before dairy/meat ("ICE CREAM/MILK/SHERBTS", "FRZN MEAT/MEAT DINNERS")
    ("FRZN", "frozen"), ("FROZEN", "frozen"), ("ICE CREAM", "frozen"),
    ("ICE - ", "frozen"),
    ("CIGARETTE", OTHER), ("TOBACCO", OTHER), ("MAGAZINE", OTHER), ("NEWSPAPER", OTHER),
    ("GREETING", OTHER), ("STATIONERY", OTHER), ("COUPON/MISC", OTHER),
    ("SOFT DRINK", "beverages"), ("JUICE", "beverages"), ("DRNK", "beverages"),
    ("DRINK", "beverages"), ("WATER", "beverages"), ("COFFEE", "beverages"),
    ("TEAS", "beverages"), ("COCOA", "beverages"), ("BEER", "beverages"),
    ("WINE", "beverages"), ("LIQUOR", "beverages"),
    ("CANDY", "snacks"), ("SNACK", "snacks"), ("CRACKERS", "snacks"),
    ("COOKIES", "snacks"), ("CHIPS", "snacks"), ("POPCORN", "snacks"), ("NUTS", "snacks"),
    ("BREAD", "bakery"), ("BUNS", "bakery"), ("ROLLS", "bakery"), ("BAKED SWEET", "bakery"),
    ("DOUGH", "bakery"), ("CAKES", "bakery"), ("DONUT", "bakery"), ("MUFFIN", "bakery"),
    ("MILK", "dairy"), ("CHEESE", "dairy"), ("YOGURT", "dairy"), ("EGGS", "dairy"),
    ("BUTTER", "dairy"), ("MARGARINE", "dairy"), ("DAIRY", "dairy"),
    ("PAPER TOWEL", "household"), ("BATH TISSUE", "household"), ("FACIAL TISS", "household"),
    ("WRAPS", "household"), ("TRSH", "household"), ("LAUNDRY", "household"),
    ("DETERGENT", "household"), ("CLEAN", "household"), ("BLEACH", "household"),
    ("AIR CARE", "household"), ("PAPER HOUSEWARES", "household"), ("BROOMS", "household"),
    ("ELECTRICAL", "household"), ("HOUSEHOLD", "household"), ("CHARCOAL", "household"),
    ("LIGHT BULB", "household"), ("STORAGE", "household"),
    ("HAIR", "personal_care"), ("ORAL HYGIENE", "personal_care"), ("SOAP", "personal_care"),
    ("DEODORANT", "personal_care"), ("SHAVING", "personal_care"),
    ("FEMININE", "personal_care"), ("HAND/BODY", "personal_care"), ("MAKEUP", "personal_care"),
    ("SKIN", "personal_care"), ("COSMETIC", "personal_care"), ("FRAGRANCE", "personal_care"),
    ("COLD AND FLU", "health"), ("ANALGESIC", "health"), ("FIRST AID", "health"),
    ("VITAMIN", "health"), ("ANTACID", "health"), ("ALLERG", "health"), ("LAXATIVE", "health"),
    ("EYE", "health"), ("FOOT CARE", "health"), ("MEDIC", "health"), ("DIET", "health"),
    ("SMOKING CESSATION", "health"), ("PHARMACY", "health"),
)  # fmt: skip
"""``(keyword in product_category, catalog category)``, first match wins."""

DEPARTMENT_DEFAULT: dict[str, str] = {
    "GROCERY": "pantry",
    "NUTRITION": "pantry",
    "PRODUCE": "produce",
    "SALAD BAR": "deli",
    "DELI": "deli",
    "CHEF SHOPPE": "deli",
    "RESTAURANT": "deli",
    "MEAT": "meat",
    "MEAT-PCKGD": "meat",
    "SEAFOOD": "seafood",
    "SEAFOOD-PCKGD": "seafood",
    "PASTRY": "bakery",
    "FROZEN GROCERY": "frozen",
    "COSMETICS": "personal_care",
    "SPIRITS": "beverages",
    "DRUG GM": OTHER,
}
"""A department's category when no keyword matched; departments not listed are ``OTHER``."""


def map_category(department: object, product_category: object) -> str:
    """The catalog category of one Complete Journey product (see the module docstring)."""
    pc = str(product_category).upper() if isinstance(product_category, str) else ""
    dept = str(department).upper() if isinstance(department, str) else ""
    if dept in ("FUEL", "MISCELLANEOUS", "COUPON", "KIOSK-GAS"):
        return OTHER
    for keyword, category in KEYWORD_RULES:
        if keyword in pc:
            return category
    return DEPARTMENT_DEFAULT.get(dept, OTHER)
