//! "shapes": general image questions about coloured shapes on an RGB canvas (counting,
//! colours, spatial relations). Levels add objects, noise, smaller shapes and closer colours.

use std::sync::Arc;

use medgym_rewards::{AnswerType, Reference};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{by_level, put, Generated, Generator};
use crate::error::EnvError;
use crate::types::{ColorImage, Info, ItemImage};

/// Side of the square canvas, in pixels.
pub const CANVAS_SIZE: u32 = 96;
/// Grid cells per side; every object sits in its own cell.
pub const GRID: u32 = 4;
/// Background gray level.
pub const BACKGROUND: u8 = 235;
/// Objects per image, per level.
pub const OBJECTS_BY_LEVEL: [u32; 5] = [2, 3, 5, 7, 9];
/// Noise amplitude per channel, per level.
pub const NOISE_BY_LEVEL: [i32; 5] = [0, 4, 10, 16, 24];
/// Shape half-size range (pixels), per level.
pub const HALF_SIZE_BY_LEVEL: [(i32, i32); 5] = [(9, 10), (8, 10), (7, 9), (6, 8), (5, 7)];
/// Largest per-channel shade offset applied to an object's colour, per level.
pub const SHADE_BY_LEVEL: [i32; 5] = [0, 10, 20, 30, 40];

/// A shape kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// A filled disk.
    Circle,
    /// A filled axis-aligned square.
    Square,
    /// A filled upward triangle.
    Triangle,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 3] = [Shape::Circle, Shape::Square, Shape::Triangle];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
        }
    }

    /// Whether offset (dx, dy) from the center lies inside a shape of half-size `half`.
    pub fn covers(self, dx: i32, dy: i32, half: i32) -> bool {
        match self {
            Shape::Circle => dx * dx + dy * dy <= half * half,
            Shape::Square => dx.abs() <= half && dy.abs() <= half,
            Shape::Triangle => dy.abs() <= half && 2 * dx.abs() <= dy + half,
        }
    }
}

/// Named colours and their RGB values.
pub const COLOURS: [(&str, [u8; 3]); 6] = [
    ("red", [210, 30, 30]),
    ("green", [30, 160, 50]),
    ("blue", [35, 60, 210]),
    ("yellow", [225, 200, 20]),
    ("purple", [130, 40, 170]),
    ("orange", [240, 130, 20]),
];

/// One object on the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Object {
    /// Shape kind.
    pub shape: Shape,
    /// Colour name (one of [`COLOURS`]).
    pub colour: &'static str,
    /// Grid column (0 = left).
    pub column: u32,
    /// Grid row (0 = top).
    pub row: u32,
    /// Half-size in pixels.
    pub half: i32,
}

impl Object {
    /// "red circle".
    pub fn label(&self) -> String {
        format!("{} {}", self.colour, self.shape.name())
    }
}

/// The question a shapes task asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeQuestion {
    /// How many objects of a shape, or of a colour.
    Count,
    /// The colour of the only object of some shape.
    Colour,
    /// Whether one object is left of (or above) another.
    Relation,
}

/// The shapes generators.
pub fn generators() -> Vec<Arc<dyn Generator>> {
    [
        ShapeQuestion::Count,
        ShapeQuestion::Colour,
        ShapeQuestion::Relation,
    ]
    .iter()
    .map(|question| Arc::new(ShapeGenerator(*question)) as Arc<dyn Generator>)
    .collect()
}

/// Generator of one shapes question.
#[derive(Debug, Clone, Copy)]
pub struct ShapeGenerator(pub ShapeQuestion);

/// Objects with pairwise distinct (shape, colour) in distinct cells; for the colour question
/// the first object's shape occurs once.
fn draw_objects(rng: &mut ChaCha8Rng, level: u8, unique_first_shape: bool) -> Vec<Object> {
    let count = by_level(OBJECTS_BY_LEVEL, level) as usize;
    let (half_low, half_high) = by_level(HALF_SIZE_BY_LEVEL, level);
    let mut cells: Vec<u32> = (0..GRID * GRID).collect();
    let mut kinds: Vec<(Shape, usize)> = Shape::ALL
        .iter()
        .flat_map(|shape| (0..COLOURS.len()).map(move |colour| (*shape, colour)))
        .collect();
    let mut objects: Vec<Object> = Vec::with_capacity(count);
    while objects.len() < count && !kinds.is_empty() && !cells.is_empty() {
        let (shape, colour) = kinds.swap_remove(rng.random_range(0..kinds.len()));
        if unique_first_shape && objects.first().is_some_and(|first| first.shape == shape) {
            continue;
        }
        let cell = cells.swap_remove(rng.random_range(0..cells.len()));
        objects.push(Object {
            shape,
            colour: COLOURS.get(colour).map_or("red", |entry| entry.0),
            column: cell % GRID,
            row: cell / GRID,
            half: rng.random_range(half_low..=half_high),
        });
    }
    objects
}

/// Draws the objects with per-object shade offsets and per-channel noise.
fn render(rng: &mut ChaCha8Rng, objects: &[Object], level: u8) -> Result<ColorImage, EnvError> {
    let size = CANVAS_SIZE as i32;
    let cell = size / GRID as i32;
    let mut pixels = vec![BACKGROUND; (CANVAS_SIZE * CANVAS_SIZE * 3) as usize];
    let shade = by_level(SHADE_BY_LEVEL, level);
    for object in objects {
        let base = COLOURS
            .iter()
            .find(|entry| entry.0 == object.colour)
            .map_or([0, 0, 0], |entry| entry.1);
        let offset = rng.random_range(-shade..=shade);
        let colour = base.map(|channel| (i32::from(channel) + offset).clamp(0, 255) as u8);
        let center_x = object.column as i32 * cell + cell / 2;
        let center_y = object.row as i32 * cell + cell / 2;
        for dy in -object.half..=object.half {
            for dx in -object.half..=object.half {
                let (x, y) = (center_x + dx, center_y + dy);
                if object.shape.covers(dx, dy, object.half)
                    && (0..size).contains(&x)
                    && (0..size).contains(&y)
                {
                    let start = ((y * size + x) * 3) as usize;
                    if let Some(pixel) = pixels.get_mut(start..start + 3) {
                        pixel.copy_from_slice(&colour);
                    }
                }
            }
        }
    }
    let noise = by_level(NOISE_BY_LEVEL, level);
    if noise > 0 {
        for value in &mut pixels {
            let offset = rng.random_range(-noise..=noise);
            *value = (i32::from(*value) + offset).clamp(0, 255) as u8;
        }
    }
    ColorImage::new(CANVAS_SIZE, CANVAS_SIZE, pixels)
}

/// "top-left", "bottom-right", … of a grid cell.
fn place_name(object: &Object) -> String {
    let vertical = if object.row < GRID / 2 {
        "top"
    } else {
        "bottom"
    };
    let horizontal = if object.column < GRID / 2 {
        "left"
    } else {
        "right"
    };
    format!("{} ({vertical}-{horizontal})", object.label())
}

impl Generator for ShapeGenerator {
    fn id(&self) -> &'static str {
        match self.0 {
            ShapeQuestion::Count => "shapes/count-v1",
            ShapeQuestion::Colour => "shapes/color-v1",
            ShapeQuestion::Relation => "shapes/relation-v1",
        }
    }

    fn answer_type(&self) -> AnswerType {
        match self.0 {
            ShapeQuestion::Count => AnswerType::Count,
            ShapeQuestion::Colour => AnswerType::Closed,
            ShapeQuestion::Relation => AnswerType::YesNo,
        }
    }

    fn description(&self) -> &'static str {
        match self.0 {
            ShapeQuestion::Count => {
                "Coloured shapes (RGB); count the shapes of a kind or a colour."
            }
            ShapeQuestion::Colour => {
                "Coloured shapes (RGB); name the colour of the only shape of a kind."
            }
            ShapeQuestion::Relation => {
                "Coloured shapes (RGB); is one shape left of / above another?"
            }
        }
    }

    fn chance(&self) -> f64 {
        match self.0 {
            ShapeQuestion::Count => 0.25,
            ShapeQuestion::Colour => 1.0 / COLOURS.len() as f64,
            ShapeQuestion::Relation => 0.5,
        }
    }

    fn generate(&self, rng: &mut ChaCha8Rng, level: u8) -> Result<Generated, EnvError> {
        let objects = draw_objects(rng, level, self.0 == ShapeQuestion::Colour);
        let image = render(rng, &objects, level)?;
        let listing: Vec<String> = objects.iter().map(place_name).collect();
        let seen = format!("Objects: {}.", listing.join(", "));
        let invalid = |reason: &str| EnvError::InvalidItem {
            task_id: self.id().to_string(),
            field: "objects".into(),
            reason: reason.to_string(),
        };
        let (question, answer, conclusion, first) = match self.0 {
            ShapeQuestion::Count => {
                let by_shape = rng.random_range(0..2u32) == 0;
                let (label, count) = if by_shape {
                    let shape = Shape::ALL[rng.random_range(0..Shape::ALL.len())];
                    let count = objects.iter().filter(|o| o.shape == shape).count();
                    (format!("{}s", shape.name()), count)
                } else {
                    let colour = COLOURS[rng.random_range(0..COLOURS.len())].0;
                    let count = objects.iter().filter(|o| o.colour == colour).count();
                    (format!("{colour} shapes"), count)
                };
                let wrong = if count == 0 { 1 } else { count - 1 };
                (
                    format!("How many {label} are in the image?"),
                    count.to_string(),
                    format!("There are {count} {label}."),
                    format!("I count {wrong} {label} at first."),
                )
            }
            ShapeQuestion::Colour => {
                let target = objects.first().ok_or_else(|| invalid("no objects drawn"))?;
                let wrong = COLOURS
                    .iter()
                    .map(|entry| entry.0)
                    .find(|name| *name != target.colour)
                    .unwrap_or("red");
                (
                    format!(
                        "What colour is the {}? Answer with one of: red, green, blue, yellow, purple, orange.",
                        target.shape.name()
                    ),
                    target.colour.to_string(),
                    format!("The only {} is {}.", target.shape.name(), target.colour),
                    format!("The {} looks {wrong} at first.", target.shape.name()),
                )
            }
            ShapeQuestion::Relation => {
                let (first_object, second) = match objects.as_slice() {
                    [a, b, ..] => (*a, *b),
                    _ => return Err(invalid("needs two objects")),
                };
                let horizontal = first_object.column != second.column;
                let (relation, holds) = if horizontal {
                    ("to the left of", first_object.column < second.column)
                } else {
                    ("above", first_object.row < second.row)
                };
                let answer = if holds { "yes" } else { "no" };
                let wrong = if holds { "no" } else { "yes" };
                (
                    format!(
                        "Is the {} {relation} the {}?",
                        first_object.label(),
                        second.label()
                    ),
                    answer.to_string(),
                    format!(
                        "The {} is in column {}, row {}; the {} is in column {}, row {}. So {answer}.",
                        first_object.label(),
                        first_object.column + 1,
                        first_object.row + 1,
                        second.label(),
                        second.column + 1,
                        second.row + 1
                    ),
                    format!("Mixing up the two shapes, I would say {wrong}."),
                )
            }
        };
        let mut meta = Info::new();
        put(&mut meta, "objects", &objects)?;
        Ok(Generated {
            images: vec![ItemImage::Color(image)],
            question,
            reference: Reference::new(&answer, self.answer_type())?,
            cot: format!("{seen} {conclusion}"),
            first_reading: first,
            meta,
        })
    }
}
