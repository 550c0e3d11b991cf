"""The shared shopping vocabulary: categories, brands, cities and stores.

Both the sample persona generator and the synthetic catalog read this module, so every
persona's ``preferred_store`` is a real store code and its preferred categories and brands
exist in the catalog whatever seed the catalog was generated with. Prices here are the
*base* prices the catalog varies around; :func:`typical_price_cents` is what the sample
generator sizes budgets with (see ``personas.sample``).

Names never contain commas: persona workbooks list categories and brands comma-separated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from statistics import fmean

STORE_CODE_PREFIX = "SIM-"
"""Every synthetic natural key starts with this, so it cannot clash with a real store,
SKU or coupon code of the owner's database."""

TIER_MULTIPLIER: dict[str, float] = {"value": 0.8, "standard": 1.0, "premium": 1.35}
"""Price multiplier of a brand tier over the item's base price."""

STORE_BRANDS: tuple[tuple[str, str], ...] = (
    ("Valley Basics", "value"),
    ("Valley Select", "premium"),
)
"""The chain's own brands, sold in every category."""

CATEGORY_ITEMS: dict[str, tuple[tuple[str, int], ...]] = {
    "produce": (
        ("Bananas 2 lb", 129), ("Gala Apples 3 lb", 499), ("Baby Spinach 5 oz", 399),
        ("Avocados 4 ct", 549), ("Strawberries 1 lb", 449), ("Yellow Onions 3 lb", 379),
        ("Russet Potatoes 5 lb", 499), ("Roma Tomatoes 1 lb", 249), ("Blueberries 6 oz", 399),
        ("Carrots 2 lb", 229),
    ),
    "dairy": (
        ("Whole Milk 1 gal", 429), ("Greek Yogurt 32 oz", 549), ("Cheddar Cheese 8 oz", 399),
        ("Butter 1 lb", 549), ("Large Eggs 12 ct", 399), ("Cream Cheese 8 oz", 299),
        ("Half and Half 1 qt", 329), ("String Cheese 12 ct", 499),
    ),
    "bakery": (
        ("Sourdough Loaf", 549), ("Whole Wheat Bread", 379), ("Bagels 6 ct", 449),
        ("Croissants 4 ct", 599), ("Flour Tortillas 10 ct", 329), ("Blueberry Muffins 4 ct", 499),
        ("Dinner Rolls 12 ct", 349),
    ),
    "meat": (
        ("Chicken Breast 1.5 lb", 899), ("Ground Beef 1 lb", 649), ("Pork Chops 1 lb", 799),
        ("Thick Cut Bacon 12 oz", 699), ("Ribeye Steak 12 oz", 1499), ("Italian Sausage 1 lb", 599),
        ("Chicken Thighs 2 lb", 799),
    ),
    "seafood": (
        ("Salmon Fillet 1 lb", 1299), ("Raw Shrimp 1 lb", 1099), ("Tilapia Fillets 1 lb", 799),
        ("Canned Tuna 4 pk", 599), ("Cod Fillet 1 lb", 1199), ("Lump Crab Meat 8 oz", 899),
    ),
    "frozen": (
        ("Pepperoni Pizza", 699), ("Vanilla Ice Cream 1.5 qt", 549), ("Mixed Vegetables 12 oz", 249),
        ("Waffles 10 ct", 379), ("Chicken Alfredo Dinner", 449), ("Fish Sticks 24 ct", 599),
        ("Frozen Berries 16 oz", 599),
    ),
    "pantry": (
        ("Spaghetti 1 lb", 179), ("Marinara Sauce 24 oz", 399), ("Long Grain Rice 2 lb", 349),
        ("Peanut Butter 16 oz", 399), ("Extra Virgin Olive Oil 500 ml", 899),
        ("Black Beans 15 oz", 129), ("Chicken Broth 32 oz", 299), ("All-Purpose Flour 5 lb", 449),
        ("Honey Oat Cereal 14 oz", 479),
    ),
    "beverages": (
        ("Orange Juice 52 oz", 449), ("Sparkling Water 8 pk", 549), ("Cola 12 pk", 799),
        ("Ground Coffee 12 oz", 899), ("Green Tea 20 ct", 399), ("Sports Drink 6 pk", 649),
        ("Almond Milk 64 oz", 379),
    ),
    "snacks": (
        ("Potato Chips 8 oz", 429), ("Tortilla Chips 11 oz", 399), ("Pretzels 16 oz", 349),
        ("Granola Bars 6 ct", 429), ("Mixed Nuts 10 oz", 799), ("Dark Chocolate Bar", 249),
        ("Whole Grain Crackers", 379), ("Microwave Popcorn 6 ct", 399),
    ),
    "household": (
        ("Paper Towels 6 rolls", 1199), ("Toilet Paper 12 rolls", 1399), ("Dish Soap 24 oz", 349),
        ("Laundry Detergent 64 oz", 1299), ("Trash Bags 30 ct", 999),
        ("All-Purpose Cleaner 32 oz", 449), ("Sponges 6 ct", 399),
    ),
    "personal_care": (
        ("Shampoo 12 oz", 699), ("Toothpaste 2 pk", 449), ("Body Wash 18 oz", 649),
        ("Deodorant", 599), ("Razors 4 ct", 1099), ("Hand Lotion 16 oz", 799),
        ("Mouthwash 1 l", 599),
    ),
    "baby": (
        ("Diapers 32 ct", 1399), ("Baby Wipes 3 pk", 899), ("Baby Food Pouches 4 pk", 599),
        ("Baby Shampoo 13 oz", 599), ("Teething Biscuits", 399), ("Infant Formula 12 oz", 1999),
    ),
    "pet": (
        ("Dry Dog Food 15 lb", 2499), ("Wet Cat Food 12 cans", 1099), ("Clumping Cat Litter 20 lb", 1299),
        ("Dog Treats 16 oz", 699), ("Cat Treats 3 oz", 399), ("Bird Seed 5 lb", 899),
    ),
    "health": (
        ("Multivitamins 100 ct", 1299), ("Pain Reliever 100 ct", 899), ("Allergy Relief 30 ct", 1499),
        ("Adhesive Bandages 30 ct", 449), ("Cough Syrup 8 oz", 999), ("Vitamin C 60 ct", 799),
    ),
    "deli": (
        ("Sliced Turkey 8 oz", 699), ("Rotisserie Chicken", 799), ("Classic Hummus 10 oz", 449),
        ("Potato Salad 16 oz", 499), ("Sliced Swiss 8 oz", 599), ("California Roll 8 pc", 899),
    ),
}  # fmt: skip
"""Items each category sells, with a base price in cents (US grocery prices, 2024)."""

CATEGORIES: tuple[str, ...] = tuple(CATEGORY_ITEMS)
"""The catalog's categories (15)."""

_CATEGORY_BRANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "produce": (("Green Acres", "standard"), ("Sunripe", "value"), ("Orchard Hill", "premium"),
                ("FreshFields", "standard"), ("Golden Valley Farms", "premium"), ("Harvest Moon", "value")),
    "dairy": (("Clover Creek", "standard"), ("Alpine Dairy", "premium"), ("Blue Pasture", "premium"),
              ("Morning Churn", "standard"), ("Happy Cow", "value"), ("Creamery Lane", "value")),
    "bakery": (("Hearth and Stone", "premium"), ("Baker's Dozen", "standard"), ("Rise Up", "value"),
               ("Golden Crust", "standard"), ("Old Mill", "value"), ("Artisan Oven", "premium")),
    "meat": (("Prairie Ranch", "standard"), ("Butcher's Block", "premium"), ("Heritage Farms", "premium"),
             ("Open Range", "standard"), ("Smokehouse Co", "value"), ("Pasture Prime", "value")),
    "seafood": (("Ocean Harvest", "standard"), ("Blue Harbor", "premium"), ("Coastal Catch", "value"),
                ("Deep Sea Select", "premium"), ("North Bay", "standard"), ("Tidewater", "value")),
    "frozen": (("Frost Bite", "value"), ("Polar Kitchen", "standard"), ("Ice Box", "value"),
               ("Glacier Foods", "standard"), ("Snowpeak", "premium"), ("Frozen Garden", "premium")),
    "pantry": (("Pantry Staples", "value"), ("Mama Rosa", "premium"), ("Golden Grain", "standard"),
               ("Harvest Table", "standard"), ("Old Country", "premium"), ("Spice Route", "value")),
    "beverages": (("Bubbly Springs", "standard"), ("Sun Squeeze", "value"), ("Peak Roast", "premium"),
                  ("Leaf and Kettle", "premium"), ("Zest", "value"), ("Hydra Plus", "standard")),
    "snacks": (("Crunch Time", "value"), ("Munchies", "standard"), ("Trail Mix Co", "premium"),
               ("Salty Dog", "standard"), ("Choco Bliss", "premium"), ("Nibble", "value")),
    "household": (("Sparkle", "standard"), ("CleanHome", "value"), ("TrueSoft", "premium"),
                  ("Fresh Linen", "standard"), ("EcoWise", "premium"), ("PowerScrub", "value")),
    "personal_care": (("Pure Glow", "premium"), ("Mint Fresh", "standard"), ("Silk and Sage", "premium"),
                      ("Daily Care", "value"), ("Aqua Vita", "standard"), ("Bare Essentials", "value")),
    "baby": (("Little Sprout", "standard"), ("Tiny Toes", "value"), ("Cuddle Care", "standard"),
             ("Baby Bloom", "premium"), ("Nest and Nurture", "premium"), ("First Steps", "value")),
    "pet": (("Happy Paws", "standard"), ("Whisker Delight", "premium"), ("Canine Choice", "standard"),
            ("Feather and Fin", "value"), ("Tail Waggers", "value"), ("Purrfect", "premium")),
    "health": (("VitaWell", "standard"), ("CureAll", "value"), ("Nature's Shield", "premium"),
               ("Remedy Plus", "standard"), ("HealthFirst", "premium"), ("Daily Dose", "value")),
    "deli": (("Deli Fresh", "standard"), ("Carver's", "premium"), ("Slice and Co", "value"),
             ("Mediterranean Table", "premium"), ("Sandwich Shop", "value"), ("Counter Classics", "standard")),
}  # fmt: skip

BRAND_TIERS: dict[str, dict[str, str]] = {
    cat: dict(STORE_BRANDS + brands) for cat, brands in _CATEGORY_BRANDS.items()
}
"""Per category: brand → price tier. Every category also sells the two store brands."""

BRANDS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    cat: tuple(tiers) for cat, tiers in BRAND_TIERS.items()
}
"""Per category: the brands it sells (8 each; 92 distinct brands in all)."""

ALL_BRANDS: tuple[str, ...] = tuple(
    dict.fromkeys(b for brands in BRANDS_BY_CATEGORY.values() for b in brands)
)
"""Every brand, in vocabulary order, without duplicates."""


@dataclass(frozen=True)
class StoreInfo:
    """A store of the synthetic chain."""

    code: str
    name: str
    city: str


CITY_STORES: dict[str, tuple[str, ...]] = {
    "Austin": ("Downtown", "Mueller", "Round Rock"),
    "Denver": ("LoDo", "Cherry Creek"),
    "Seattle": ("Capitol Hill", "Ballard", "Bellevue"),
    "Chicago": ("Loop", "Wicker Park", "Evanston"),
    "Atlanta": ("Midtown", "Decatur"),
    "Phoenix": ("Scottsdale", "Tempe"),
    "Boston": ("Back Bay", "Cambridge", "Somerville"),
    "Portland": ("Pearl District", "Hawthorne"),
}
"""Neighbourhood stores per city (20 stores)."""

CITY_WEIGHTS: dict[str, float] = {
    "Austin": 1.0,
    "Denver": 0.7,
    "Seattle": 1.0,
    "Chicago": 1.3,
    "Atlanta": 0.8,
    "Phoenix": 0.8,
    "Boston": 1.0,
    "Portland": 0.6,
}
"""Relative share of shoppers per city in the sample population."""

CITIES: tuple[str, ...] = tuple(CITY_STORES)


def _store_code(city: str, index: int) -> str:
    return f"{STORE_CODE_PREFIX}{city[:3].upper()}-{index:02d}"


STORES: tuple[StoreInfo, ...] = tuple(
    StoreInfo(_store_code(city, i), f"VoiceOffers Market {city} {hood}", city)
    for city, hoods in CITY_STORES.items()
    for i, hood in enumerate(hoods, start=1)
)
"""Every store of the synthetic chain, in a stable order."""

STORE_CODES: tuple[str, ...] = tuple(s.code for s in STORES)


def stores_in(city: str) -> tuple[str, ...]:
    """Store codes of one city (empty for a city the chain does not serve)."""
    return tuple(s.code for s in STORES if s.city == city)


@cache
def typical_price_cents(category: str) -> int:
    """Expected shelf price of one item of ``category`` in the synthetic catalog.

    The catalog picks items and brands about uniformly and multiplies the base price by
    the brand's tier and mean-one noise, so the expectation is mean(base) × mean(tier).
    Budgets of the sample personas are sized with it.
    """
    base = fmean(p for _, p in CATEGORY_ITEMS[category])
    tier = fmean(TIER_MULTIPLIER[t] for t in BRAND_TIERS[category].values())
    return round(base * tier)


def catalog_typical_price_cents() -> int:
    """The typical item price over all categories (what exploration outside the
    preferred categories costs)."""
    return round(fmean(typical_price_cents(c) for c in CATEGORIES))
