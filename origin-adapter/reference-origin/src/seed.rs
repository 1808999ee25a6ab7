//! A deterministic, realistic catalog: the same products, prices and stock
//! on every start, so tests and demos can name SKUs.

use origin_adapter::wire::{Money, Product};

/// How many products each category gets.
pub const PER_CATEGORY: usize = 100;

/// (slug, display name, nouns sold there)
pub const CATEGORIES: [(&str, &str, [&str; 5]); 12] = [
    (
        "kitchen",
        "Kitchen",
        [
            "Chef's Knife",
            "Saucepan",
            "Cutting Board",
            "Mixing Bowl",
            "Kettle",
        ],
    ),
    (
        "coffee",
        "Coffee & Tea",
        [
            "Pour-Over Dripper",
            "Burr Grinder",
            "Tea Infuser",
            "Espresso Cup",
            "Milk Jug",
        ],
    ),
    (
        "outdoor",
        "Outdoor",
        [
            "Trail Backpack",
            "Camping Lantern",
            "Water Bottle",
            "Hammock",
            "Trekking Pole",
        ],
    ),
    (
        "apparel",
        "Apparel",
        [
            "Merino Sweater",
            "Rain Jacket",
            "Canvas Cap",
            "Linen Shirt",
            "Wool Socks",
        ],
    ),
    (
        "footwear",
        "Footwear",
        [
            "Trail Runner",
            "Leather Boot",
            "Canvas Sneaker",
            "House Slipper",
            "Sandal",
        ],
    ),
    (
        "home",
        "Home",
        [
            "Throw Blanket",
            "Table Lamp",
            "Ceramic Vase",
            "Wall Clock",
            "Linen Cushion",
        ],
    ),
    (
        "garden",
        "Garden",
        [
            "Pruning Shears",
            "Watering Can",
            "Planter",
            "Garden Gloves",
            "Seed Tray",
        ],
    ),
    (
        "office",
        "Office",
        [
            "Notebook",
            "Desk Organiser",
            "Fountain Pen",
            "Monitor Stand",
            "Desk Mat",
        ],
    ),
    (
        "audio",
        "Audio",
        [
            "Bookshelf Speaker",
            "Headphones",
            "Turntable",
            "Earbuds",
            "Radio",
        ],
    ),
    (
        "fitness",
        "Fitness",
        [
            "Yoga Mat",
            "Kettlebell",
            "Jump Rope",
            "Foam Roller",
            "Resistance Band",
        ],
    ),
    (
        "toys",
        "Toys",
        [
            "Wooden Train",
            "Puzzle",
            "Building Blocks",
            "Plush Bear",
            "Kite",
        ],
    ),
    (
        "bath",
        "Bath",
        [
            "Bath Towel",
            "Soap Dish",
            "Shower Caddy",
            "Bath Mat",
            "Robe",
        ],
    ),
];

const ADJECTIVES: [&str; 10] = [
    "Classic", "Compact", "Heritage", "Everyday", "Pro", "Nordic", "Studio", "Field", "Coastal",
    "Urban",
];
const MATERIALS: [&str; 10] = [
    "Oak",
    "Steel",
    "Cotton",
    "Walnut",
    "Copper",
    "Stoneware",
    "Bamboo",
    "Wool",
    "Recycled",
    "Ash",
];

/// SplitMix64: a fixed, well-distributed sequence from the product index.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The SKU of product `index` in category number `category`.
pub fn sku(category: usize, index: usize) -> String {
    let slug = CATEGORIES[category % CATEGORIES.len()].0;
    format!("{}-{:04}", slug[..3].to_ascii_uppercase(), index + 1)
}

/// Every product of the seed catalog, in a stable order.
pub fn products(currency: &str) -> Vec<Product> {
    let mut out = Vec::with_capacity(CATEGORIES.len() * PER_CATEGORY);
    for (c, (slug, display, nouns)) in CATEGORIES.iter().enumerate() {
        for i in 0..PER_CATEGORY {
            let h = mix((c * PER_CATEGORY + i) as u64);
            let adjective = ADJECTIVES[(h % 10) as usize];
            let material = MATERIALS[((h >> 8) % 10) as usize];
            let noun = nouns[i % nouns.len()];
            // Prices end in 99 or 49 cents/pence, between 4.49 and 499.99.
            let whole = 4 + (h >> 16) % 496;
            let cents = if (h >> 40).is_multiple_of(2) { 99 } else { 49 };
            let stock = ((h >> 24) % 250) as i64;
            out.push(Product {
                sku: sku(c, i),
                name: format!("{adjective} {material} {noun}"),
                description: format!(
                    "A {} {} from our {} range, made from {} and built to last. Model {}.",
                    adjective.to_lowercase(),
                    noun.to_lowercase(),
                    display.to_lowercase(),
                    material.to_lowercase(),
                    i + 1
                ),
                category: (*slug).to_owned(),
                price: Money {
                    amount_minor: (whole * 100 + cents) as i64,
                    currency: currency.to_owned(),
                },
                stock,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_large_deterministic_and_unique() {
        let a = products("USD");
        assert!(a.len() >= 1000);
        assert_eq!(a, products("USD"));
        let mut skus: Vec<_> = a.iter().map(|p| &p.sku).collect();
        skus.sort();
        skus.dedup();
        assert_eq!(skus.len(), a.len());
        assert!(
            a.iter()
                .all(|p| p.price.amount_minor >= 449 && p.price.amount_minor <= 49_999)
        );
        assert_eq!(a[0].sku, "KIT-0001");
    }
}
